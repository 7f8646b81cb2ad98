/** Why the sandbox cannot start, in a sentence for the person who typed `npm start` (no stack). */
export class SandboxStartError extends Error {
  override readonly name = "SandboxStartError";
}
