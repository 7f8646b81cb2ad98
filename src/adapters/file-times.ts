// A copied file's modification time is set through utimes(), which takes seconds as a double:
// the nanoseconds that come back can differ from the source's by a rounding error, on either side
// of a millisecond boundary. Two times within a millisecond are the same time for "is this copy
// current?".
export function sameModificationTime(aMs: number, bMs: number): boolean {
  return Math.abs(aMs - bMs) < 1;
}
