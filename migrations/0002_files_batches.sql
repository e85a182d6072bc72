CREATE TABLE `batches` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`status` text NOT NULL,
	`endpoint` text NOT NULL,
	`input_file_id` text NOT NULL,
	`completion_window` text NOT NULL,
	`model` text,
	`metadata` text,
	`errors` text,
	`output_file_id` text,
	`error_file_id` text,
	`output_expires_after_seconds` integer,
	`total_count` integer DEFAULT 0 NOT NULL,
	`completed_count` integer DEFAULT 0 NOT NULL,
	`failed_count` integer DEFAULT 0 NOT NULL,
	`input_tokens` integer DEFAULT 0 NOT NULL,
	`cached_tokens` integer DEFAULT 0 NOT NULL,
	`output_tokens` integer DEFAULT 0 NOT NULL,
	`reasoning_tokens` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`in_progress_at` integer,
	`finalizing_at` integer,
	`completed_at` integer,
	`failed_at` integer,
	`expired_at` integer,
	`cancelling_at` integer,
	`cancelled_at` integer
);
--> statement-breakpoint
CREATE INDEX `batches_project_created` ON `batches` (`project_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `batches_status` ON `batches` (`status`);--> statement-breakpoint
CREATE TABLE `files` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`filename` text NOT NULL,
	`purpose` text NOT NULL,
	`bytes` integer NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer,
	`storage_path` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `files_project_created` ON `files` (`project_id`,`created_at`,`id`);--> statement-breakpoint
DROP INDEX `work_items_subject`;--> statement-breakpoint
ALTER TABLE `work_items` ADD `item_key` text;--> statement-breakpoint
ALTER TABLE `work_items` ADD `result` text;--> statement-breakpoint
CREATE UNIQUE INDEX `work_items_item_key` ON `work_items` (`subject_id`,`item_key`);--> statement-breakpoint
CREATE INDEX `work_items_subject` ON `work_items` (`subject_id`,`status`);