-- 10,000 certified, listed products `prd_B1` … `prd_B10000` spread over the demo producers, copied
-- from the demo's 册亨干香菇 (tiers at 20 and 100), with stock enough for any run. For the order
-- benchmark; valid on SQLite and PostgreSQL.
CREATE TEMP TABLE bench_producers AS
  SELECT row_number() OVER (ORDER BY id) - 1 AS k, id FROM organizations WHERE kind = 'producer';
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
INSERT INTO products (id, producer_id, name, category, description, origin_region_code, origin_path, unit, spec,
  net_weight_g, price_fen, price_per_500g_fen, tiers, min_order_qty, stock, storage, shelf_life_days, images,
  status, cert_status, certificate_no, cert_valid_until, rating_sum, rating_count, created_at, updated_at)
SELECT 'prd_B' || n.i, bp.id, t.name || ' B' || n.i, t.category, t.description, t.origin_region_code, t.origin_path,
  t.unit, t.spec, t.net_weight_g, t.price_fen, t.price_per_500g_fen, t.tiers, 1, 1000000000, t.storage,
  t.shelf_life_days, t.images, 'listed', 'certified', 'BENCH-' || n.i, t.cert_valid_until, 0, 0, t.created_at, t.updated_at
FROM n
JOIN bench_producers bp ON bp.k = n.i % (SELECT count(*) FROM bench_producers)
CROSS JOIN (SELECT * FROM products WHERE name = '册亨干香菇') t;
