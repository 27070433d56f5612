// A small Eliza: a few patterns, each with a reflected reply, after Weizenbaum's 1966 program.

const reflections: Record<string, string> = {
  i: "you",
  me: "you",
  my: "your",
  am: "are",
  "i'm": "you're",
  you: "I",
  your: "my",
  yours: "mine",
};

const rules: [RegExp, string[]][] = [
  [/\bi need (.+)/i, ["Why do you need {0}?", "Would {0} really help you?"]],
  [/\bi feel (.+)/i, ["Tell me more about feeling {0}.", "How long have you felt {0}?"]],
  [/\bi am (.+)/i, ["How does being {0} make you feel?", "Why do you say you are {0}?"]],
  [/\bbecause (.+)/i, ["Is that the real reason?", "What else could explain {0}?"]],
  [/\b(hello|hi|hey)\b/i, ["Hello. How are you feeling today?"]],
  [/\?$/, ["Why do you ask?", "What do you think?"]],
];

function reflect(text: string): string {
  return text
    .replace(/[.!?]+$/, "")
    .split(/\s+/)
    .map((w) => reflections[w.toLowerCase()] ?? w)
    .join(" ");
}

let turn = 0;

/** Eliza's answer to one sentence. */
export function reply(sentence: string): string {
  turn++;
  for (const [pattern, answers] of rules) {
    const m = pattern.exec(sentence.trim());
    if (m) return answers[turn % answers.length].replace("{0}", reflect(m[1] ?? ""));
  }
  return sentence.trim() === "" ? "Please, say something." : "Please, go on.";
}
