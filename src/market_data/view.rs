//! A published depth view: the top N levels per side that a stream's
//! subscribers hold, as of the stream's last message. Bringing it up to the
//! image yields exactly the changes a subscriber needs, including the
//! explicit delete of a level that falls out of the top N and the insert of
//! one that moves into it, so clients never apply a truncation rule of their
//! own (Kraken's documented pitfall). The real-time depth streams sync a
//! view after every level event; the conflated streams sync one per tick.

use super::change::{ChangeBuf, LevelChange};
use super::image::{BookImage, ImageLevel, ImageSide};
use crate::engine::Side;

pub struct DepthView {
    /// Levels per side; `usize::MAX` style "whole book" views are sized to
    /// the image's capacity by the caller.
    depth: usize,
    /// Best first, at most `depth` long.
    bids: Vec<ImageLevel>,
    asks: Vec<ImageLevel>,
}

impl DepthView {
    pub fn new(depth: usize) -> DepthView {
        DepthView {
            depth,
            bids: Vec::with_capacity(depth),
            asks: Vec::with_capacity(depth),
        }
    }

    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The most changes one [`sync`](Self::sync) can produce.
    pub fn max_changes(&self) -> usize {
        4 * self.depth
    }

    /// The view's side, best first.
    pub fn side(&self, side: Side) -> &[ImageLevel] {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    /// Whether a change at `price` on `side` of `image` can change this
    /// view: false when the view is full and the price is worse than its
    /// worst level (a deep update the subscribers do not see).
    pub fn touches(&self, image: &BookImage, side: Side, price: crate::engine::Price) -> bool {
        let view = self.side(side);
        match view.last() {
            Some(worst) if view.len() == self.depth => !image.side(side).better(worst.price, price),
            _ => true,
        }
    }

    /// Brings both sides up to `image`, appending the differences to `out`.
    pub fn sync(&mut self, image: &BookImage, out: &mut ChangeBuf) {
        self.sync_side(&image.bids, out);
        self.sync_side(&image.asks, out);
    }

    /// Brings one side up to `image_side`, appending the differences
    /// (bids then asks, best first within a side) to `out`.
    pub fn sync_side(&mut self, image_side: &ImageSide, out: &mut ChangeBuf) {
        let side = image_side.side();
        let view = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let mut new = image_side.best_first().take(self.depth).peekable();
        let mut old = view.iter().peekable();
        loop {
            match (old.peek(), new.peek()) {
                (None, None) => break,
                (Some(o), Some(n)) if o.price == n.price => {
                    if o != n {
                        out.push(LevelChange::set(side, n));
                    }
                    old.next();
                    new.next();
                }
                (Some(o), Some(n)) if image_side.better(n.price, o.price) => {
                    out.push(LevelChange::set(side, n));
                    new.next();
                }
                (Some(o), _) => {
                    out.push(LevelChange::delete(side, o.price));
                    old.next();
                }
                (None, Some(n)) => {
                    out.push(LevelChange::set(side, n));
                    new.next();
                }
            }
        }
        view.clear();
        view.extend(image_side.best_first().take(self.depth).copied());
    }

    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(view: &mut DepthView, image: &BookImage) -> Vec<(Side, i64, u64)> {
        let mut out = ChangeBuf::with_capacity(view.max_changes());
        view.sync(image, &mut out);
        out.as_slice()
            .iter()
            .map(|c| (c.side, c.price, c.qty))
            .collect()
    }

    #[test]
    fn levels_entering_and_leaving_the_depth_are_explicit() {
        let mut image = BookImage::new(8);
        let mut view = DepthView::new(2);
        for price in [100, 99, 98] {
            image.set(Side::Buy, price, 1, 1).unwrap();
        }
        assert_eq!(
            changes(&mut view, &image),
            [(Side::Buy, 100, 1), (Side::Buy, 99, 1)]
        );
        // A better bid pushes 99 out of the top 2.
        image.set(Side::Buy, 101, 4, 1).unwrap();
        assert_eq!(
            changes(&mut view, &image),
            [(Side::Buy, 101, 4), (Side::Buy, 99, 0)]
        );
        // The best goes: 99 slides back in.
        image.set(Side::Buy, 101, 0, 0).unwrap();
        assert_eq!(
            changes(&mut view, &image),
            [(Side::Buy, 101, 0), (Side::Buy, 99, 1)]
        );
        // A change below the depth is invisible.
        assert!(!view.touches(&image, Side::Buy, 98));
        image.set(Side::Buy, 98, 5, 2).unwrap();
        assert_eq!(changes(&mut view, &image), []);
        assert!(view.touches(&image, Side::Buy, 99));
        assert!(view.touches(&image, Side::Sell, 500));
    }

    #[test]
    fn asks_diff_in_their_own_order() {
        let mut image = BookImage::new(8);
        let mut view = DepthView::new(3);
        image.set(Side::Sell, 105, 1, 1).unwrap();
        image.set(Side::Sell, 103, 1, 1).unwrap();
        assert_eq!(
            changes(&mut view, &image),
            [(Side::Sell, 103, 1), (Side::Sell, 105, 1)]
        );
        image.set(Side::Sell, 104, 2, 1).unwrap();
        image.set(Side::Sell, 103, 0, 0).unwrap();
        assert_eq!(
            changes(&mut view, &image),
            [(Side::Sell, 103, 0), (Side::Sell, 104, 2)]
        );
    }
}
