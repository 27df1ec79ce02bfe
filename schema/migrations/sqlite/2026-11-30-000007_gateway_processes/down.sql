DROP TABLE gateway_processes;
