//! Ids and times that travel together on the purchase path, as types: `take(product, user, now)`
//! with the arguments swapped does not compile.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id!(
    /// A product's row id.
    ProductId
);
id!(
    /// A user's row id.
    UserId
);
id!(
    /// A moment, in milliseconds since the Unix epoch (the one clock of every stage and table).
    Millis
);

impl Millis {
    pub fn now() -> Self {
        Millis(crate::now_ms())
    }
}
