-- After the click: an order is a reservation until paid. `reserved` (today's stored order) →
-- `paid`, or `expired` at its `deadline`, or `cancelled` by its shopper. Only live orders
-- (reserved, paid) count as the shopper's one purchase: `live` is 1 for them and NULL once an
-- order has ended, and NULLs never collide in the unique key, so a shopper whose reservation
-- ended may buy again. SQLite cannot change a CHECK or a UNIQUE in place: the table is rebuilt.
CREATE TABLE orders_new (
    id          TEXT    PRIMARY KEY,
    product_id  INTEGER NOT NULL REFERENCES products (id),
    user_id     INTEGER NOT NULL REFERENCES users (id),
    status      TEXT    NOT NULL
                CHECK (status IN ('queued', 'reserved', 'paid', 'expired', 'cancelled')),
    created_at  INTEGER NOT NULL,
    lease_owner INTEGER NOT NULL DEFAULT 0,
    -- Pay by then (Unix ms) or the unit goes back; 0: no deadline (orders from before).
    deadline    INTEGER NOT NULL DEFAULT 0,
    live        INTEGER DEFAULT 1 CHECK (live IS NULL OR live = 1),
    -- When it was paid, or ended (expired, cancelled).
    settled_at  INTEGER,
    -- The payment provider's reference of the payment that settled it.
    payment_ref TEXT,
    UNIQUE (product_id, user_id, live)
);
INSERT INTO orders_new (id, product_id, user_id, status, created_at, lease_owner)
    SELECT id, product_id, user_id,
           CASE status WHEN 'confirmed' THEN 'reserved' ELSE status END,
           created_at, lease_owner
    FROM orders;
DROP TABLE orders;
ALTER TABLE orders_new RENAME TO orders;
CREATE INDEX orders_by_user ON orders (user_id);
CREATE INDEX orders_by_lease_owner ON orders (lease_owner, product_id);
-- The expiry sweep: reserved orders by deadline.
CREATE INDEX orders_by_deadline ON orders (status, deadline);

-- How long a shopper has to pay, per product (the admin sets it; 15 minutes by default).
ALTER TABLE products ADD COLUMN pay_within_ms INTEGER NOT NULL DEFAULT 900000
    CHECK (pay_within_ms > 0);

-- Each payment event once (the provider's id): a webhook delivered twice gets the first answer.
-- touched_at: when its handling began (an event stuck halfway is handled again later).
CREATE TABLE payment_events (
    event_id   TEXT    PRIMARY KEY,
    order_id   TEXT    NOT NULL,
    outcome    TEXT    NOT NULL,
    touched_at INTEGER NOT NULL
);

-- The orders that ended unpaid, as they end (in the ending's transaction): every process reads
-- those ended since it last looked and forgets their shoppers. A table of its own, not an index
-- on `orders`: an index would cost every order of a sale an entry.
CREATE TABLE order_endings (
    settled_at INTEGER NOT NULL,
    order_id   TEXT    NOT NULL,
    product_id INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    PRIMARY KEY (settled_at, order_id)
);
