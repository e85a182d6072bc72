-- Keys made before the webhook scopes existed with the default (every resource scope) get the
-- webhook scopes too, as a key made with the default today has. A key given a narrower list
-- keeps exactly that list.
UPDATE `api_keys`
SET `scopes` = json_insert(`scopes`, '$[#]', 'webhooks:read', '$[#]', 'webhooks:write')
WHERE `scopes` = '["responses:read","responses:write","batches:read","batches:write","files:read","files:write","streams:read","streams:write"]';
