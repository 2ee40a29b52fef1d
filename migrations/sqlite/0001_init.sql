-- Times are Unix milliseconds; money is integer cents.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL DEFAULT 'shopper' CHECK (role IN ('shopper', 'admin')),
    created_at    INTEGER NOT NULL
);

-- leased: units handed to stock owners (never more than stock); sold: committed orders.
CREATE TABLE products (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    image       TEXT    NOT NULL,
    stock       INTEGER NOT NULL CHECK (stock >= 0),
    leased      INTEGER NOT NULL DEFAULT 0 CHECK (leased >= 0 AND leased <= stock),
    sold        INTEGER NOT NULL DEFAULT 0 CHECK (sold >= 0 AND sold <= stock),
    sale_start  INTEGER NOT NULL,
    sale_end    INTEGER NOT NULL CHECK (sale_end > sale_start),
    created_at  INTEGER NOT NULL
);

CREATE TABLE orders (
    id         TEXT    PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES products (id),
    user_id    INTEGER NOT NULL REFERENCES users (id),
    status     TEXT    NOT NULL CHECK (status IN ('queued', 'confirmed')),
    created_at INTEGER NOT NULL,
    UNIQUE (product_id, user_id)
);
CREATE INDEX orders_by_user ON orders (user_id);

CREATE TABLE blacklist (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id),
    reason     TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
