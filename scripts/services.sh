#!/usr/bin/env bash
# Makes sure MariaDB (127.0.0.1:3306) and RabbitMQ (127.0.0.1:5672) are up, for the tests that
# use them. On machines that already run them (this project's dev/CI machines do) it only checks.
# On a plain Debian machine it installs and starts them (nothing starts by itself there).
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

start_mariadb() {
  if [ ! -x /usr/sbin/mariadbd ]; then
    flash_apt_install mariadb-server mariadb-client
  fi
  flash_log "starting MariaDB"
  flash_as_root install -d -o mysql -g mysql /run/mysqld
  if [ ! -d /var/lib/mysql/mysql ]; then
    flash_as_root mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  fi
  flash_as_root start-stop-daemon --start --background --make-pidfile \
    --pidfile /run/mysqld/flash-sale-mariadbd.pid --chuid mysql --exec /usr/sbin/mariadbd -- \
    --datadir=/var/lib/mysql --socket=/run/mysqld/mysqld.sock --bind-address=127.0.0.1
  flash_wait_port 127.0.0.1 3306 60 || flash_die "MariaDB did not open 127.0.0.1:3306 within 60 s"
  # Same access as on the project's machines: root without a password over TCP, database `test`.
  flash_as_root mariadb --socket=/run/mysqld/mysqld.sock -uroot <<'SQL' || flash_warn "could not set up MariaDB users"
CREATE DATABASE IF NOT EXISTS test;
ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
}

start_rabbitmq() {
  if ! command -v rabbitmq-server >/dev/null 2>&1 && [ ! -x /usr/sbin/rabbitmq-server ]; then
    flash_apt_install rabbitmq-server
  fi
  flash_log "starting RabbitMQ"
  flash_as_root /usr/sbin/rabbitmq-server -detached
  flash_wait_port 127.0.0.1 5672 90 || flash_die "RabbitMQ did not open 127.0.0.1:5672 within 90 s"
}

if flash_port_open 127.0.0.1 3306; then
  flash_log "MariaDB is up on 127.0.0.1:3306"
else
  start_mariadb
fi

if flash_port_open 127.0.0.1 5672; then
  flash_log "RabbitMQ is up on 127.0.0.1:5672"
else
  start_rabbitmq
fi
