// Who is assigned and who acts are named by ids. An id that is an email address names a mailbox,
// and mailboxes are in practice not told apart by case: the server mails `Dana@Acme.test` to
// `dana@acme.test`, and the inbox signs her in as `dana@acme.test`. So the engine keeps such an id in
// lower case, and compares it without case; any other id (`key:…`, `billing-agent`) is kept as given.

const emailPattern = /^[^\s@<>()",;:\\[\]]+@[^\s@<>()",;:\\[\]]+$/;

/**
 * Whether a string is an email address: one `@` between two parts without spaces or `<>()",;:\[]`,
 * at most 254 characters — the addresses the server mails and signs people in with.
 */
export function isEmailAddress(value: string): boolean {
  return value.length <= 254 && emailPattern.test(value);
}

/**
 * The form in which the engine keeps an assignee, escalation delegate or actor id: an email address
 * in lower case, anything else as given.
 */
export function canonicalActorId(id: string): string {
  return isEmailAddress(id) ? id.toLowerCase() : id;
}

/** Whether two assignee or actor ids name the same one (email addresses compared without case). */
export function sameActorId(a: string, b: string): boolean {
  return a === b || canonicalActorId(a) === canonicalActorId(b);
}

/** Whether `actorId` is one of the current assignees of a task (email addresses compared without case). */
export function isAssignee(task: { assignees: readonly string[] }, actorId: string): boolean {
  return task.assignees.some((assignee) => sameActorId(assignee, actorId));
}
