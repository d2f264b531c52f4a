-- A database workload for sqlite3: bulk inserts in a transaction, indexes,
-- joins, grouping, ordering, updates and deletes.  @ROWS@ is replaced by the
-- row count.  Values come from a linear congruential generator in SQL, so
-- the results are the same on every run (random() would not be).
PRAGMA journal_mode = MEMORY;
PRAGMA cache_size = -16000;
CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT, region INTEGER, score INTEGER);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, item INTEGER, qty INTEGER, price INTEGER, note TEXT);
BEGIN;
WITH RECURSIVE g(i, s) AS (
    SELECT 1, 12345
    UNION ALL
    SELECT i + 1, (s * 1103515245 + 12345) % 2147483648 FROM g WHERE i < @ROWS@ / 10)
INSERT INTO customer SELECT i, 'cust' || (s % 100003), s % 17, s % 1000 FROM g;
WITH RECURSIVE g(i, s) AS (
    SELECT 1, 999
    UNION ALL
    SELECT i + 1, (s * 1103515245 + 12345) % 2147483648 FROM g WHERE i < @ROWS@)
INSERT INTO orders SELECT i, 1 + s % (@ROWS@ / 10), (s / 7) % 5000, 1 + (s / 13) % 9,
    100 + (s / 17) % 9900, printf('n%x', s) FROM g;
COMMIT;
CREATE INDEX orders_customer ON orders(customer);
CREATE INDEX orders_item ON orders(item, qty);
CREATE INDEX customer_region ON customer(region, score);
SELECT 'orders', count(*), sum(qty * price) FROM orders;
SELECT 'by region', c.region, count(*), sum(o.qty * o.price)
    FROM orders o JOIN customer c ON c.id = o.customer
    GROUP BY c.region ORDER BY c.region LIMIT 5;
SELECT 'top items', item, sum(qty) AS n FROM orders GROUP BY item ORDER BY n DESC, item LIMIT 5;
SELECT 'best customers', c.name, t.total FROM
    (SELECT customer, sum(qty * price) AS total FROM orders GROUP BY customer) t
    JOIN customer c ON c.id = t.customer ORDER BY t.total DESC, c.id LIMIT 5;
UPDATE orders SET price = price + 1 WHERE item % 3 = 0;
DELETE FROM orders WHERE qty = 9 AND item % 2 = 1;
SELECT 'after update', count(*), sum(qty * price), max(note) FROM orders;
SELECT 'like', count(*) FROM orders WHERE note LIKE 'n1%f';
SELECT 'distinct names', count(DISTINCT name) FROM customer;
SELECT 'median price', price FROM orders ORDER BY price, id LIMIT 1 OFFSET (SELECT count(*) / 2 FROM orders);
