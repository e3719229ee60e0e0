DROP TABLE login_failures; DROP TABLE sessions; DROP TABLE users; DROP TABLE organizations; DROP TABLE regions; DROP TABLE app_meta;
