-- Apicurio Registry keeps its schemas in its own database on the same server (as scripts/stack does).
-- The postgres image runs this once, as POSTGRES_USER, when the data volume is first initialised.
CREATE DATABASE apicurio OWNER cairn;
