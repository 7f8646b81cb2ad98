import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** redis:// URL of the real Redis this test run uses. */
    redisUrl: string;
  }
}
