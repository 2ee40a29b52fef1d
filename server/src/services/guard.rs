//! Undo by ownership. A step of a purchase that takes something (the shopper's one claim, a unit
//! of stock) returns it as a [`Held`] guard, which gives it back when dropped unless kept. Once the
//! order is handed to the queue the guard becomes [`Handed`]: the queue may have the order now,
//! so a drop no longer gives anything back; only a clear "nothing reached the queue" does.

/// Something a purchase took, and how to give it back.
pub trait Taken: Send + 'static {
    fn give_back(self);
}

/// Taken and not yet handed to the queue: dropped, it is given back.
#[must_use = "dropping a Held gives it back at once"]
pub struct Held<T: Taken>(Option<T>);

impl<T: Taken> Held<T> {
    pub fn new(taken: T) -> Self {
        Held(Some(taken))
    }

    /// What is held (always there: only `keep`, `hand_over` and a drop take it out).
    pub fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }

    /// The purchase needs it no more, and it is not to be given back (e.g. the database already
    /// has the shopper's order).
    pub fn keep(mut self) {
        self.0.take();
    }

    /// The order goes to the queue now: from here a drop leaves it held.
    pub fn hand_over(mut self) -> Handed<T> {
        Handed(self.0.take())
    }
}

impl<T: Taken> Drop for Held<T> {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.give_back();
        }
    }
}

/// Handed to the queue with its order. Three ends: `keep` (the order is durable), `give_back`
/// (nothing reached the queue), or dropped / `in_doubt` (the queue may have it: it stays taken,
/// undersold rather than sold twice, and reconcile settles it).
#[must_use = "say how the queue answered: keep, give_back or in_doubt"]
pub struct Handed<T: Taken>(Option<T>);

impl<T: Taken> Handed<T> {
    pub fn keep(mut self) {
        self.0.take();
    }

    pub fn give_back(mut self) {
        if let Some(t) = self.0.take() {
            t.give_back();
        }
    }

    pub fn in_doubt(mut self) {
        self.0.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;

    struct Unit(Arc<AtomicI64>);

    impl Taken for Unit {
        fn give_back(self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_guard_gives_back_unless_kept_and_never_after_the_hand_over() {
        let left = Arc::new(AtomicI64::new(0));
        let unit = || Held::new(Unit(left.clone()));
        drop(unit());
        assert_eq!(left.load(Ordering::SeqCst), 1, "dropped: given back");
        unit().keep();
        assert_eq!(left.load(Ordering::SeqCst), 1, "kept");
        drop(unit().hand_over());
        assert_eq!(
            left.load(Ordering::SeqCst),
            1,
            "handed over then dropped: in doubt"
        );
        unit().hand_over().in_doubt();
        unit().hand_over().keep();
        assert_eq!(left.load(Ordering::SeqCst), 1);
        unit().hand_over().give_back();
        assert_eq!(
            left.load(Ordering::SeqCst),
            2,
            "the queue refused it: given back"
        );
    }
}
