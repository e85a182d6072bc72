/**
 * The one tool and one output schema every client test uses, so the files read alike and the
 * mock's documented tool rule (under `auto` a tool is called when the last user message shares a
 * keyword with its name or description; after a tool result it answers with text that uses the
 * result) is met the same way everywhere.
 */
import { z } from "zod";

export const MODEL = "gpt-4o-mini";

export const WEATHER_TOOL_NAME = "get_weather";
export const WEATHER_TOOL_DESCRIPTION = "Get the current weather for a city";
/** Shares "weather" with the tool, so `auto` calls it; names a capitalised city for the args. */
export const WEATHER_QUESTION = "What is the weather in Paris right now?";

export const weatherArgs = z.object({ city: z.string().min(1) });
/** The same parameters as plain JSON Schema, as a hand-written Responses/Chat tool sends them. */
export const weatherParametersJsonSchema = {
  type: "object",
  properties: { city: { type: "string", description: "The city name, e.g. Paris" } },
  required: ["city"],
  additionalProperties: false,
} as const;

/**
 * What the tool returns. The station code is a token no model (or mock) would write by itself:
 * finding it in the final answer proves the tool's output was carried back into the model call.
 */
export const WEATHER_STATION = "ORLY-7";
export const weatherToolOutput = (city: string) =>
  `Sunny, 21 C in ${city} (station ${WEATHER_STATION})`;

/** A structured-output schema with an enum, a number and a nested array, as apps write them. */
export const forecastSchema = z.object({
  city: z.string(),
  temperature_c: z.number(),
  conditions: z.enum(["sunny", "cloudy", "rainy"]),
  hourly: z.array(z.object({ hour: z.number().int(), chance_of_rain: z.number() })),
});
export type Forecast = z.infer<typeof forecastSchema>;
export const FORECAST_QUESTION = "Give me a structured forecast for Paris tomorrow.";

/** A second tool for parallel calls: the combined question shares a keyword with each tool. */
export const TIME_TOOL_NAME = "get_local_time";
export const TIME_TOOL_DESCRIPTION = "Get the local time in a city";
export const WEATHER_AND_TIME_QUESTION = "What is the weather and the local time in Paris?";
export const TIME_ZONE_TOKEN = "CET-ZONE-4";
export const timeToolOutput = (city: string) => `14:05 in ${city} (${TIME_ZONE_TOKEN})`;
