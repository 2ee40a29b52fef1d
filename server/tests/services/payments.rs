//! After the click on RabbitMQ + MariaDB: the same crowds as the embedded tests, with orders
//! stored by the consumer and reservations expired by its sweep.

use crate::after_click;
use crate::helpers::Mode;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reservations_paid_cancelled_expired_and_sold_again() {
    after_click::half_paid_half_returned_then_sold_again(Mode::Rabbit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_racing_its_deadline_has_one_outcome() {
    after_click::payments_racing_their_deadlines(Mode::Rabbit).await;
}
