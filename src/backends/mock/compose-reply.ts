import type { ModelMessage } from "../backend.js";
import { plainText } from "../message-text.js";
import { createSeededRandom } from "./seeded-random.js";

/**
 * The mock's answer: a short, plausible assistant reply built from sentence templates, chosen by
 * a hash of the whole conversation. Same conversation, same reply; a different question gets a
 * different reply that mentions what it was about. It reads like an answer, not an echo.
 */

const OPENINGS = [
  "Here is a short take on {topic}.",
  "Good question about {topic}.",
  "Happy to help with {topic}.",
  "Sure, let's look at {topic}.",
  "There are a few things worth knowing about {topic}.",
  "Thanks for asking about {topic}.",
];

const BODY = [
  "The key idea is to start with the simplest version that works and refine it from there.",
  "Most of the effort usually goes into getting the inputs right, not the final step.",
  "It helps to write down what a good result looks like before you begin.",
  "A small example often makes {topic} much easier to reason about.",
  "Keep an eye on edge cases, since that is where surprises tend to hide.",
  "If something looks off, check the assumptions first and the details second.",
  "Breaking {topic} into two or three smaller steps keeps each of them manageable.",
  "There is rarely a single right answer, but some trade-offs are clearly better than others.",
  "Measuring before and after a change is the surest way to know it helped.",
  "A quick test or two saves a lot of time later on.",
  "In practice, consistency matters more than picking the perfect approach.",
  "It is worth revisiting {topic} once you have seen how it behaves with real data.",
  "People new to {topic} often underestimate how much the context matters.",
  "The details depend on your constraints, such as time, budget and the tools at hand.",
];

const CLOSINGS = [
  "Let me know if you want me to go deeper on any part.",
  "I hope that gives you a useful starting point.",
  "Feel free to ask a follow-up if anything is unclear.",
  "",
];

const STOPWORDS = new Set(
  (
    "about above after again against also because been before being below between both could " +
    "does doing down during each either from further have having here hers herself himself " +
    "into itself just like more most much must myself only other ought ours ourselves over " +
    "please same should some such than that their theirs them themselves then there these " +
    "they this those through under until very want what when where which while whom with " +
    "would your yours yourself yourselves tell give make explain write describe show"
  ).split(" "),
);

/** What the reply depends on, as one string: equal seeds give equal replies (a cache key). */
export function replySeed(
  model: string,
  messages: readonly ModelMessage[],
  choiceIndex = 0,
): string {
  return `${model}\u0000${choiceIndex}\u0000${JSON.stringify(messages)}`;
}

export function composeReply(
  model: string,
  messages: readonly ModelMessage[],
  choiceIndex = 0,
): string {
  const random = createSeededRandom(replySeed(model, messages, choiceIndex));
  const topic = findTopic(messages);
  const pick = (pool: readonly string[]) => pool[random.int(pool.length)] ?? "";
  const sentences = [pick(OPENINGS)];
  const bodyCount = 2 + random.int(3);
  const used = new Set<string>();
  while (used.size < bodyCount) {
    used.add(pick(BODY));
  }
  sentences.push(...used, pick(CLOSINGS));
  return sentences
    .filter((sentence) => sentence !== "")
    .join(" ")
    .replaceAll("{topic}", topic);
}

const MAX_TOPIC_WORD_CHARS = 40;

/** Up to three distinctive words of the last user message, in the order the user wrote them. */
function findTopic(messages: readonly ModelMessage[]): string {
  const lastUser = [...messages].reverse().find((message) => message.role === "user");
  const words = plainText(lastUser?.content ?? []).match(/[\p{L}\p{N}][\p{L}\p{N}'-]*/gu) ?? [];
  const picked: string[] = [];
  for (const word of words) {
    const lower = word.toLowerCase();
    // A "word" of thousands of letters is no topic (and would make the reply as long).
    const isWordLength = word.length >= 4 && word.length <= MAX_TOPIC_WORD_CHARS;
    if (isWordLength && !STOPWORDS.has(lower) && !picked.includes(lower)) {
      picked.push(lower);
    }
    if (picked.length === 3) {
      break;
    }
  }
  return picked.length === 0 ? "this" : picked.join(" ");
}
