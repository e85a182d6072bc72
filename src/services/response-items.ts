import type { ContentPart, InputItem } from "../contract/responses-request.js";
import { ApiError } from "../lib/api-error.js";
import { newId } from "../lib/ids.js";

/**
 * Input items as ferry stores and lists them (`GET /v1/responses/{id}/input_items`): each has an
 * id and a `type`, message content is always an array of parts, and a plain string input is one
 * user message, as OpenAI shows it.
 */
export type StoredItem = { id: string; type: string } & Record<string, unknown>;

/** The item an `item_reference` at `input[index]` names; throws the 400 when there is none. */
export type ReferenceResolver = (id: string, index: number) => StoredItem;

/** Each `item_reference` is replaced by the item it names, so it is stored and listed as that item. */
export function normalizeInput(
  input: string | readonly InputItem[] | undefined,
  resolveReference: ReferenceResolver,
): StoredItem[] {
  if (input === undefined) {
    return [];
  }
  if (typeof input === "string") {
    return [userMessage(input)];
  }
  return input.map((item, index) =>
    item.type === "item_reference" ? resolveReference(item.id, index) : normalizeItem(item),
  );
}

/** OpenAI's answer to an `item_reference` that names no item ferry has for this project. */
export function itemNotFound(id: string, index: number): ApiError {
  return ApiError.invalid(`input[${index}]`, `Item with id '${id}' not found.`);
}

function userMessage(text: string): StoredItem {
  return {
    id: newId("message"),
    type: "message",
    role: "user",
    content: [{ type: "input_text", text }],
    status: "completed",
  };
}

function normalizeItem(item: Exclude<InputItem, { type: "item_reference" }>): StoredItem {
  switch (item.type) {
    case "message":
      return {
        id: item.id ?? newId("message"),
        type: "message",
        role: item.role,
        content: normalizeContent(item.role, item.content),
        status: item.status ?? "completed",
      };
    case "function_call":
      return { ...item, id: item.id ?? newId("functionCall"), status: item.status ?? "completed" };
    case "function_call_output":
      return {
        ...item,
        id: item.id ?? newId("functionCallOutput"),
        status: item.status ?? "completed",
      };
    case "reasoning":
      return { ...item, id: item.id ?? newId("reasoning") };
  }
}

function normalizeContent(role: string, content: string | readonly ContentPart[]): unknown[] {
  if (typeof content !== "string") {
    return content.map((part) =>
      part.type === "output_text" ? { annotations: [], logprobs: [], ...part } : part,
    );
  }
  return role === "assistant"
    ? [{ type: "output_text", text: content, annotations: [], logprobs: [] }]
    : [{ type: "input_text", text: content }];
}
