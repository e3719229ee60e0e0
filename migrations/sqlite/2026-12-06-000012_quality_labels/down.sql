DROP TABLE product_labels;
