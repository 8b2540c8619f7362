-- worker.valid_time_zone(name): name when PostgreSQL knows the time zone, else 'UTC'. The digest
-- sweep uses it so that one user's bad "UserPreferences".timezone cannot fail the whole sweep
-- (AT TIME ZONE raises on an unknown name); checking membership in pg_timezone_names instead
-- reads the whole zone database on every call.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION worker.valid_time_zone(name text) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    IF name IS NULL OR name = '' THEN
        RETURN 'UTC';
    END IF;
    PERFORM now() AT TIME ZONE name;
    RETURN name;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN 'UTC';
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION worker.valid_time_zone(text);
