DROP TABLE outbox; DROP TABLE batches; DROP TABLE certification_events; DROP TABLE certification_requests; DROP TABLE products;
