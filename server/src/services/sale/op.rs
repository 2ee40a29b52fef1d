//! The wire between nodes: an action forwarded to the shopper's owner, and its answer.

use super::action::Action;
use super::captcha::NewCaptcha;
use super::local::LocalSale;
use super::orders::MyOrders;
use super::purchase::Purchase;
use super::verify::VerifyCaptcha;
use crate::error::{AppError, AppResult};
use crate::services::auth::Shopper;
use crate::services::cookie::Claims;
use crate::services::forward::Standing;
use app::model::ApiError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Captcha(NewCaptcha),
    Verify(VerifyCaptcha),
    Purchase(Purchase),
    Orders(MyOrders),
}

macro_rules! into_op {
    ($($action:ident => $variant:ident),*) => {
        $(impl From<$action> for Op {
            fn from(a: $action) -> Op {
                Op::$variant(a)
            }
        })*
    };
}
into_op!(NewCaptcha => Captcha, VerifyCaptcha => Verify, Purchase => Purchase, MyOrders => Orders);

/// An action handed to the owner; the caller authenticated the user, the shared secret
/// authenticates the caller.
#[derive(Debug, Serialize, Deserialize)]
pub struct Routed {
    pub user: Claims,
    pub op: Op,
    /// Required: a message without it must not pass for the owner's and skip the stand-in check.
    pub standing: Standing,
}

impl Routed {
    /// The receiving node's side: runs the action here, never forwarding again.
    pub async fn apply(self, sale: &LocalSale) -> Reply {
        let (shopper, standing) = (Shopper::vouched_by_peer(self.user), self.standing);
        match self.op {
            Op::Captcha(a) => a.apply(sale, &shopper, standing).await.into(),
            Op::Verify(a) => a.apply(sale, &shopper, standing).await.into(),
            Op::Purchase(a) => a.apply(sale, &shopper, standing).await.into(),
            Op::Orders(a) => a.apply(sale, &shopper, standing).await.into(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Ok(serde_json::Value),
    Err {
        error: ApiError,
        retry_after: Option<u64>,
    },
}

impl<T: Serialize> From<AppResult<T>> for Reply {
    fn from(r: AppResult<T>) -> Self {
        let value =
            r.and_then(|v| serde_json::to_value(v).map_err(|e| AppError::Internal(e.into())));
        match value {
            Ok(v) => Reply::Ok(v),
            Err(AppError::RateLimited(error, secs)) => Reply::Err {
                error,
                retry_after: Some(secs),
            },
            Err(e) => Reply::Err {
                error: e.into(),
                retry_after: None,
            },
        }
    }
}

impl Reply {
    pub fn into_result<T: DeserializeOwned>(self) -> AppResult<T> {
        match self {
            Reply::Ok(v) => serde_json::from_value(v).map_err(|e| AppError::Internal(e.into())),
            Reply::Err {
                error,
                retry_after: Some(secs),
            } => Err(AppError::RateLimited(error, secs)),
            Reply::Err { error, .. } => Err(AppError::Api(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims() -> serde_json::Value {
        json!({"user_id": 7, "role": "shopper", "name": "ann", "issued_at": 0, "expires_at": 1})
    }

    #[test]
    fn the_wire_keeps_its_shape_and_requires_the_standing() {
        let op = json!({"op": "purchase", "product_id": 3, "pass": "p"});
        let routed: Routed =
            serde_json::from_value(json!({"user": claims(), "op": op, "standing": "stand_in"}))
                .expect("a routed purchase");
        assert_eq!(routed.standing, Standing::StandIn);
        assert!(matches!(&routed.op, Op::Purchase(p) if p.product_id.0 == 3 && p.pass == "p"));
        assert_eq!(serde_json::to_value(&routed.op).unwrap(), op);
        let orders: Op = serde_json::from_value(json!({"op": "orders"})).expect("my orders");
        assert!(matches!(orders, Op::Orders(_)));
        let missing = serde_json::from_value::<Routed>(json!({"user": claims(), "op": op}));
        assert!(
            missing.is_err(),
            "no standing: refused, not taken for the owner's"
        );
    }
}
