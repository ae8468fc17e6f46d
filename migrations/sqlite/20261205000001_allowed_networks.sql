-- IP allow-lists (issue 14): a personal access token or an app may be limited to a list of networks, stored as
-- space-separated CIDR blocks in their canonical form ('203.0.113.0/24 2001:db8::/32'). NULL: from anywhere.
ALTER TABLE api_tokens ADD COLUMN allowed_networks TEXT;
ALTER TABLE oauth_clients ADD COLUMN allowed_networks TEXT;
