DROP INDEX `responses_project_created`;--> statement-breakpoint
DROP INDEX `responses_stream_created`;--> statement-breakpoint
CREATE INDEX `responses_project_time` ON `responses` (`project_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `responses_stream_time` ON `responses` (`stream_id`,`created_at`) WHERE "responses"."stream_id" IS NOT NULL;