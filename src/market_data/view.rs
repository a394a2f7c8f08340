//! A published depth view: the top N levels per side that a stream's
//! subscribers hold, as of the stream's last message. Bringing it up to the
//! image yields exactly the changes a subscriber needs, including the
//! explicit delete of a level that falls out of the top N and the insert of
//! one that moves into it, so clients never apply a truncation rule of their
//! own (Kraken's documented pitfall). The real-time depth streams follow
//! each level event by its rank ([`DepthView::follow`]); the conflated
//! streams diff the whole view once per tick ([`DepthView::sync`]).

use super::change::{ChangeBuf, LevelChange};
use super::image::{BookImage, ImageLevel, ImageSide, LevelEdit};
use crate::engine::Side;

pub struct DepthView {
    /// Levels per side; `usize::MAX` style "whole book" views are sized to
    /// the image's capacity by the caller.
    depth: usize,
    /// Best first, at most `depth` long.
    bids: Vec<ImageLevel>,
    asks: Vec<ImageLevel>,
}

/// A copy with the same capacity (sized once, never grown on the shard).
impl Clone for DepthView {
    fn clone(&self) -> DepthView {
        let copy = |v: &Vec<ImageLevel>| {
            let mut c = Vec::with_capacity(v.capacity());
            c.extend_from_slice(v);
            c
        };
        DepthView {
            depth: self.depth,
            bids: copy(&self.bids),
            asks: copy(&self.asks),
        }
    }
}

impl DepthView {
    /// Becomes a copy of `other` without allocating: both were sized for
    /// the same depth at start.
    pub fn copy_from(&mut self, other: &DepthView) {
        assert!(
            self.bids.capacity() >= other.bids.len() && self.asks.capacity() >= other.asks.len(),
            "sized for the same depth"
        );
        self.depth = other.depth;
        self.bids.clear();
        self.bids.extend_from_slice(&other.bids);
        self.asks.clear();
        self.asks.extend_from_slice(&other.asks);
    }

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

    /// Follows one level event of `image_side` (already applied there, with
    /// the `edit` it made), appending the view's changes to `out`: at most
    /// two (the level, and the one that left or entered at the depth
    /// edge). The real-time streams use this rather than a full
    /// [`sync_side`](Self::sync_side): it touches only the ranks involved.
    pub fn follow(
        &mut self,
        image_side: &ImageSide,
        edit: LevelEdit,
        level: &ImageLevel,
        out: &mut ChangeBuf,
    ) {
        let side = image_side.side();
        let depth = self.depth;
        let view = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        match edit {
            LevelEdit::Updated { rank } if rank < depth => {
                debug_assert_eq!(view[rank].price, level.price);
                view[rank] = *level;
                out.push(LevelChange::set(side, level));
            }
            LevelEdit::Inserted { rank } if rank < depth => {
                if view.len() == depth {
                    let gone = view.pop().expect("a full view is not empty");
                    out.push(LevelChange::delete(side, gone.price));
                }
                view.insert(rank, *level);
                out.push(LevelChange::set(side, level));
            }
            LevelEdit::Deleted { rank } if rank < depth => {
                let gone = view.remove(rank);
                debug_assert_eq!(gone.price, level.price);
                out.push(LevelChange::delete(side, gone.price));
                if let Some(entering) = image_side.best_first().nth(depth - 1) {
                    view.push(*entering);
                    out.push(LevelChange::set(side, entering));
                }
            }
            _ => {}
        }
        debug_assert!(view.iter().eq(image_side.best_first().take(depth)));
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

    /// Becomes the image's top levels, with no changes to send: how a view
    /// left behind while nobody took its stream catches up
    /// (`SymbolFeed::on_level`).
    pub fn copy_top(&mut self, image: &BookImage) {
        for (view, image_side) in [(&mut self.bids, &image.bids), (&mut self.asks, &image.asks)] {
            view.clear();
            view.extend(image_side.best_first().take(self.depth).copied());
            debug_assert!(view.len() <= view.capacity(), "sized for the depth");
        }
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
        image.set(Side::Buy, 98, 5, 2).unwrap();
        assert_eq!(changes(&mut view, &image), []);
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

#[cfg(test)]
mod follow_tests {
    use super::*;

    /// `follow` after each event gives the same view and changes as a full
    /// `sync` would.
    #[test]
    fn following_events_equals_syncing() {
        let mut image = BookImage::new(16);
        let mut followed = DepthView::new(3);
        let mut synced = DepthView::new(3);
        let steps = [
            (100, 1),
            (101, 2),
            (99, 3),
            (102, 1),
            (98, 5),
            (101, 0),
            (102, 0),
            (97, 1),
            (100, 4),
            (99, 0),
        ];
        for (price, qty) in steps {
            let edit = image.set(Side::Buy, price, qty, 1).unwrap();
            let level = ImageLevel {
                price,
                qty,
                order_count: 1,
            };
            let mut a = ChangeBuf::with_capacity(16);
            let mut b = ChangeBuf::with_capacity(16);
            followed.follow(&image.bids, edit, &level, &mut a);
            synced.sync_side(&image.bids, &mut b);
            let key = |c: &LevelChange| (c.price, c.qty);
            let mut a: Vec<_> = a.as_slice().iter().map(key).collect();
            let mut b: Vec<_> = b.as_slice().iter().map(key).collect();
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!(a, b, "after {price} -> {qty}");
            assert_eq!(followed.side(Side::Buy), synced.side(Side::Buy));
        }
    }
}
