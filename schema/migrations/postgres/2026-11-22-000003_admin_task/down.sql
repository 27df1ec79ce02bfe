DROP TABLE admin_task;
