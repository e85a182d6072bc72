CREATE TABLE `stream_events` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`stream_id` text NOT NULL,
	`response_id` text NOT NULL,
	`custom_id` text,
	`status` text NOT NULL,
	`prompt_tokens` integer,
	`completion_tokens` integer,
	`completed_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `stream_events_stream_seq` ON `stream_events` (`stream_id`,`seq`);--> statement-breakpoint
CREATE UNIQUE INDEX `stream_events_response` ON `stream_events` (`response_id`);--> statement-breakpoint
CREATE TABLE `streams` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`name` text NOT NULL,
	`window` text NOT NULL,
	`status` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`cancelled_at` integer,
	`archived_at` integer,
	`total_items` integer DEFAULT 0 NOT NULL,
	`completed_items` integer DEFAULT 0 NOT NULL,
	`failed_items` integer DEFAULT 0 NOT NULL,
	`cancelled_items` integer DEFAULT 0 NOT NULL,
	`prompt_tokens` integer DEFAULT 0 NOT NULL,
	`completion_tokens` integer DEFAULT 0 NOT NULL,
	`last_completion_at` integer,
	`latest_completion_seq` integer
);
--> statement-breakpoint
CREATE INDEX `streams_project_created` ON `streams` (`project_id`,`created_at`,`id`);--> statement-breakpoint
ALTER TABLE `responses` ADD `stream_id` text;--> statement-breakpoint
ALTER TABLE `responses` ADD `expires_at` integer;--> statement-breakpoint
CREATE INDEX `responses_stream_created` ON `responses` (`stream_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `responses_stream_status` ON `responses` (`stream_id`,`status`);--> statement-breakpoint
CREATE INDEX `responses_active_expiry` ON `responses` (`status`,`expires_at`);