-- Who holds the leased stock. An owner is one run of a process that leases units (a `serve` or
-- a `stock` owner): a random id, its name (role, host and port: a later run of the same name
-- replaces it), alive while it renews `renewed_at`. Each lease is counted against its owner,
-- each order against the owner whose unit it sold (0: before owners were recorded), so that a
-- reconciliation takes back only what dead owners held and did not sell.
CREATE TABLE lease_owners (
    id         BIGINT       NOT NULL PRIMARY KEY,
    name       VARCHAR(200) NOT NULL,
    renewed_at BIGINT       NOT NULL,
    KEY lease_owners_by_name (name)
);
CREATE TABLE leases (
    owner_id   BIGINT NOT NULL,
    product_id BIGINT NOT NULL,
    granted    BIGINT NOT NULL,
    PRIMARY KEY (owner_id, product_id)
);
ALTER TABLE orders ADD COLUMN lease_owner BIGINT NOT NULL DEFAULT 0;
CREATE INDEX orders_by_lease_owner ON orders (lease_owner, product_id);
