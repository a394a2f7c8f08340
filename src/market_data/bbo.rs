//! Best bid and offer: the top level of each side, and whether a level
//! event moved it (the `bbo` channel sends only when it did).

use super::image::{BookImage, ImageLevel};
use crate::engine::{Price, Qty};

/// An empty side reads price 0, quantity 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bbo {
    pub bid_price: Price,
    pub bid_qty: Qty,
    pub bid_orders: u32,
    pub ask_price: Price,
    pub ask_qty: Qty,
    pub ask_orders: u32,
}

fn top(level: Option<&ImageLevel>) -> (Price, Qty, u32) {
    level.map_or((0, 0, 0), |l| (l.price, l.qty, l.order_count))
}

impl Bbo {
    pub fn of(image: &BookImage) -> Bbo {
        let (bid_price, bid_qty, bid_orders) = top(image.bids.best());
        let (ask_price, ask_qty, ask_orders) = top(image.asks.best());
        Bbo {
            bid_price,
            bid_qty,
            bid_orders,
            ask_price,
            ask_qty,
            ask_orders,
        }
    }
}

/// The last BBO the `bbo` channel sent.
#[derive(Clone, Default)]
pub struct BboTracker {
    last: Bbo,
}

impl BboTracker {
    /// The new BBO if it differs from the last one sent.
    pub fn update(&mut self, image: &BookImage) -> Option<Bbo> {
        let now = Bbo::of(image);
        (now != self.last).then(|| {
            self.last = now;
            now
        })
    }

    pub fn last(&self) -> Bbo {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Side;

    #[test]
    fn only_a_change_at_the_top_is_reported() {
        let mut image = BookImage::new(4);
        let mut bbo = BboTracker::default();
        assert_eq!(bbo.update(&image), None);
        image.set(Side::Buy, 100, 5, 1).unwrap();
        assert_eq!(
            bbo.update(&image).map(|b| (b.bid_price, b.bid_qty)),
            Some((100, 5))
        );
        image.set(Side::Buy, 99, 5, 1).unwrap();
        assert_eq!(bbo.update(&image), None);
        image.set(Side::Sell, 101, 2, 1).unwrap();
        assert_eq!(
            bbo.update(&image).map(|b| (b.ask_price, b.ask_qty)),
            Some((101, 2))
        );
    }
}
