DROP TABLE order_sheets;
DROP TABLE cart_lines;
