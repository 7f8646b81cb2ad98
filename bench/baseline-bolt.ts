// The floor for acknowledgement latency: a bare Bolt app (same receiver, same signature checks)
// whose slash command acks with a fixed text and does nothing else.
import { App, HTTPReceiver, LogLevel } from "@slack/bolt";

const receiver = new HTTPReceiver({
  signingSecret: process.env.SLACK_SIGNING_SECRET ?? "",
  endpoints: "/slack/events",
});
const app = new App({
  token: process.env.SLACK_BOT_TOKEN,
  receiver,
  logLevel: LogLevel.ERROR,
  clientOptions: process.env.SLACK_API_URL ? { slackApiUrl: process.env.SLACK_API_URL } : {},
});
app.command("/volume", async ({ ack }) => {
  await ack({ response_type: "ephemeral", text: "ok" });
});
await app.start(Number(process.env.PORT));
process.stdout.write("ready\n");
process.on("SIGTERM", () => process.exit(0));
