-- pgbench: the statements one POST /api/v1/orders runs on PostgreSQL (captured with
-- log_statement = 'all'), as raw SQL: the session lookup, then one transaction that reads the
-- three products, takes their stock with conditional updates, reads the producers, writes the
-- order, its sub-orders, lines and event and its notification in the outbox (the answer is built
-- from what was written); re-captured 2026-12-01 at commit 7d55ed8. @HASH@, @BUYER@,
-- @BUYER_PATH@, @BUYER_REGION@ and @USER@ are filled in by benches/orders.sh.
\set x random(1, 10000)
\set y random(1, 10000)
\set z random(1, 10000)
-- Stock is taken in one order (as the server sorts by id) so that clients never deadlock.
\set a least(:x, :y, :z)
\set c greatest(:x, :y, :z)
\set b :x + :y + :z - :a - :c
\set qa random(1, 20)
\set qb random(1, 20)
\set qc random(1, 20)
\set r random(1, 4000000000000000000)
SELECT u.id, u.org_id, u.email, u.name, u.role, u.created_at, o.id, o.name, o.kind, o.region_code, o.parent_id, o.path, o.created_at, rg.path
  FROM sessions s JOIN users u ON u.id = s.user_id JOIN organizations o ON o.id = u.org_id JOIN regions rg ON rg.code = o.region_code
  WHERE s.token_hash = '@HASH@' AND s.expires_at > now() LIMIT 1;
BEGIN;
SELECT * FROM products WHERE id = ANY(ARRAY['prd_B:a', 'prd_B:b', 'prd_B:c']);
UPDATE products SET stock = stock - :qa, stock_changed_at = now() WHERE id = 'prd_B:a' AND stock >= :qa RETURNING stock;
UPDATE products SET stock = stock - :qb, stock_changed_at = now() WHERE id = 'prd_B:b' AND stock >= :qb RETURNING stock;
UPDATE products SET stock = stock - :qc, stock_changed_at = now() WHERE id = 'prd_B:c' AND stock >= :qc RETURNING stock;
SELECT * FROM organizations WHERE id = ANY(ARRAY(SELECT producer_id FROM products WHERE id IN ('prd_B:a', 'prd_B:b', 'prd_B:c')));
INSERT INTO orders (id, buyer_org_id, buyer_org_path, buyer_region_code, buyer_user_id, status, total_fen, paid_fen, refunded_fen, delivery_address, delivery_contact, delivery_phone, created_at, updated_at)
  VALUES ('ord_pgb:r', '@BUYER@', '@BUYER_PATH@', '@BUYER_REGION@', '@USER@', 'pending_payment', 123800, 0, 0, '广东省惠州市惠城区麦地路1号 食堂', '王老师', '0752-2222222', now(), now());
INSERT INTO sub_orders (id, order_id, producer_id, producer_path, status, total_fen, refunded_fen, created_at, updated_at)
  SELECT DISTINCT ON (p.producer_id) 'sub_pgb:r-' || p.producer_id, 'ord_pgb:r', p.producer_id, o.path, 'pending_payment', p.price_fen, 0, now(), now()
  FROM products p JOIN organizations o ON o.id = p.producer_id WHERE p.id IN ('prd_B:a', 'prd_B:b', 'prd_B:c');
INSERT INTO order_lines (id, order_id, sub_order_id, position, product_id, producer_id, product_name, spec, unit, category, origin_region_code, certificate_no, quantity, unit_price_fen, subtotal_fen)
  SELECT 'oln_pgb:r-' || row_number() OVER (), 'ord_pgb:r', 'sub_pgb:r-' || p.producer_id, row_number() OVER (), p.id, p.producer_id, p.name, p.spec, p.unit, p.category, p.origin_region_code, p.certificate_no, 1, p.price_fen, p.price_fen
  FROM products p WHERE p.id IN ('prd_B:a', 'prd_B:b', 'prd_B:c');
INSERT INTO order_events (id, order_id, action, to_status, actor_user_id, actor_org_id, details, at)
  VALUES ('oev_pgb:r', 'ord_pgb:r', 'placed', 'pending_payment', '@USER@', '@BUYER@', '{"lines":3,"sub_orders":3,"total_fen":123800}', now());
INSERT INTO outbox (id, topic, payload, created_at, available_at)
  VALUES ('obx_pgb:r', 'notify', '{"event":"order.placed","order_id":"ord_pgb:r"}', now(), now());
COMMIT;
