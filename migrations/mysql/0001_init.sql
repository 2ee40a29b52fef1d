-- Times are Unix milliseconds; money is integer cents.
CREATE TABLE users (
    id            BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name          VARCHAR(64)  NOT NULL UNIQUE,
    password_hash VARCHAR(255) NOT NULL,
    role          VARCHAR(16)  NOT NULL DEFAULT 'shopper' CHECK (role IN ('shopper', 'admin')),
    created_at    BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- leased: units handed to stock owners (never more than stock); sold: committed orders.
CREATE TABLE products (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(200) NOT NULL,
    price_cents BIGINT       NOT NULL CHECK (price_cents >= 0),
    image       VARCHAR(500) NOT NULL,
    stock       BIGINT       NOT NULL CHECK (stock >= 0),
    leased      BIGINT       NOT NULL DEFAULT 0,
    sold        BIGINT       NOT NULL DEFAULT 0,
    sale_start  BIGINT       NOT NULL,
    sale_end    BIGINT       NOT NULL,
    created_at  BIGINT       NOT NULL,
    CONSTRAINT products_leased CHECK (leased >= 0 AND leased <= stock),
    CONSTRAINT products_sold CHECK (sold >= 0 AND sold <= stock),
    CONSTRAINT products_window CHECK (sale_end > sale_start)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE orders (
    id         VARCHAR(40) NOT NULL PRIMARY KEY,
    product_id BIGINT      NOT NULL,
    user_id    BIGINT      NOT NULL,
    status     VARCHAR(16) NOT NULL CHECK (status IN ('queued', 'confirmed')),
    created_at BIGINT      NOT NULL,
    UNIQUE KEY orders_one_per_user (product_id, user_id),
    KEY orders_by_user (user_id),
    CONSTRAINT orders_product FOREIGN KEY (product_id) REFERENCES products (id),
    CONSTRAINT orders_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE blacklist (
    user_id    BIGINT       NOT NULL PRIMARY KEY,
    reason     VARCHAR(500) NOT NULL,
    created_at BIGINT       NOT NULL,
    CONSTRAINT blacklist_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
