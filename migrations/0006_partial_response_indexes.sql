DROP INDEX `responses_stream_created`;--> statement-breakpoint
DROP INDEX `responses_stream_status`;--> statement-breakpoint
DROP INDEX `responses_active_expiry`;--> statement-breakpoint
CREATE INDEX `responses_stream_created` ON `responses` (`stream_id`,`created_at`,`id`) WHERE "responses"."stream_id" IS NOT NULL;--> statement-breakpoint
CREATE INDEX `responses_stream_status` ON `responses` (`stream_id`,`status`) WHERE "responses"."stream_id" IS NOT NULL;--> statement-breakpoint
CREATE INDEX `responses_active_expiry` ON `responses` (`status`,`expires_at`) WHERE "responses"."expires_at" IS NOT NULL;