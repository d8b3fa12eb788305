-- Nodes keep routes derived from the world in memory; any change to what routing reads tells
-- every node (at commit) to drop them.
CREATE FUNCTION wabahook_world_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('wabahook_world', '');
    RETURN NULL;
END
$$;

DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['businesses', 'wabas', 'phone_numbers', 'apps', 'app_access',
                             'tokens', 'token_assets', 'app_subscriptions',
                             'app_subscription_fields', 'waba_subscriptions',
                             'phone_number_overrides']
    LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION wabahook_world_changed()',
                       t || '_changed', t);
    END LOOP;
END
$$;
