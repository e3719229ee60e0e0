DROP TABLE idempotency_keys; DROP TABLE ratings; DROP TABLE refunds; DROP TABLE payments; DROP TABLE order_events; DROP TABLE order_lines; DROP TABLE sub_orders; DROP TABLE orders;
