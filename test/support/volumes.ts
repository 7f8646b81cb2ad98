// Volume requests as a tenant makes them through signed slash commands, for the tests of the
// volume's later life (delete, resize, list, purge, crashes).

import { USERS, type World } from "./world.ts";

export const APPROVE = "approval_approve";
export const DENY = "approval_deny";

/** `/volume create` of sales/shipping/shipping-dev/<pvc>, waited for until its card says succeeded. */
export async function createVolume(world: World, pvc = "data", size = 10): Promise<string> {
  const answer = await world.answer(
    await world.slash(`create bu=sales app=shipping ns=shipping-dev pvc=${pvc} size=${size}Gi`),
  );
  const id = /`(vol-[0-9a-f]{8})`/.exec(answer)?.[1];
  if (!id) throw new Error(`not accepted: ${answer}`);
  await world.until(
    `volume ${pvc} created`,
    () => world.cards().find((m) => /: succeeded/.test(m.text) && JSON.stringify(m.blocks).includes(id)),
    30_000,
  );
  return id;
}

/** `/volume delete …` accepted: its request id and its approval card. */
export async function requestDelete(world: World, text: string, user: string = USERS.requester) {
  const answer = await world.answer(await world.slash(text, user));
  const id = /`(vol-[0-9a-f]{8})`/.exec(answer)?.[1];
  if (!id || !/requested as/.test(answer)) throw new Error(`not accepted: ${answer}`);
  const card = await world.until("the deletion's approval card", () =>
    world.cards().find((m) => {
      const blocks = JSON.stringify(m.blocks ?? []);
      return blocks.includes(`"value":"${id}"`) && blocks.includes(APPROVE);
    }),
  );
  return { id, card, answer };
}
