-- After the click: an order is a reservation until paid. `reserved` (today's stored order) →
-- `paid`, or `expired` at its `deadline`, or `cancelled` by its shopper. Only live orders
-- (reserved, paid) count as the shopper's one purchase: `live` is 1 for them and NULL once an
-- order has ended, and NULLs never collide in the unique key, so a shopper whose reservation
-- ended may buy again. The column's own CHECK goes with a MODIFY (MariaDB names it after the
-- column, MySQL otherwise): the new one is a named table constraint.
ALTER TABLE orders MODIFY status VARCHAR(16) NOT NULL;
UPDATE orders SET status = 'reserved' WHERE status = 'confirmed';
ALTER TABLE orders
    ADD COLUMN deadline BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN live TINYINT NULL DEFAULT 1,
    ADD COLUMN settled_at BIGINT NULL,
    ADD COLUMN payment_ref VARCHAR(200) NULL,
    ADD CONSTRAINT orders_status
        CHECK (status IN ('queued', 'reserved', 'paid', 'expired', 'cancelled')),
    ADD CONSTRAINT orders_live CHECK (live IS NULL OR live = 1),
    ADD UNIQUE KEY orders_one_live (product_id, user_id, live),
    DROP KEY orders_one_per_user,
    ADD KEY orders_by_deadline (status, deadline);

ALTER TABLE products ADD COLUMN pay_within_ms BIGINT NOT NULL DEFAULT 900000,
    ADD CONSTRAINT products_pay_within CHECK (pay_within_ms > 0);

-- Each payment event once (the provider's id): a webhook delivered twice gets the first answer.
-- touched_at: when its handling began (an event stuck halfway is handled again later).
CREATE TABLE payment_events (
    event_id   VARCHAR(200) NOT NULL PRIMARY KEY,
    order_id   VARCHAR(40)  NOT NULL,
    outcome    VARCHAR(16)  NOT NULL,
    touched_at BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- The orders that ended unpaid, as they end (in the ending's transaction): every process reads
-- those ended since it last looked and forgets their shoppers. A table of its own, not an index
-- on `orders`: an index would cost every order of a sale an entry.
CREATE TABLE order_endings (
    settled_at BIGINT      NOT NULL,
    order_id   VARCHAR(40) NOT NULL,
    product_id BIGINT      NOT NULL,
    user_id    BIGINT      NOT NULL,
    PRIMARY KEY (settled_at, order_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
