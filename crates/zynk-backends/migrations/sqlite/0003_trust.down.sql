DROP TABLE IF EXISTS credentials;
DROP TABLE IF EXISTS trust_vouches;
DROP TABLE IF EXISTS trust_reports;
