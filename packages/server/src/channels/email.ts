import type { HumanTask } from '@holdpoint/core';

/** Email settings of the channels. */
export interface MailOptions {
  /** `smtp://user:pass@host:587`, `smtps://…:465` (nodemailer's connection URL). */
  smtpUrl: string;
  /** The sender: `Holdpoint <holdpoint@acme.test>`. */
  from: string;
  /** How long the sign-in link in a task mail works. @default 24 hours */
  linkTtlMs?: number;
}

/** One mail to send. */
export interface Mail {
  to: string;
  subject: string;
  text: string;
  html?: string;
  /** Stable per delivery: a mail sent again after a crash carries the same Message-ID. */
  messageId?: string;
}

/** Sends mail over SMTP. */
export interface Mailer {
  send(mail: Mail): Promise<void>;
  close(): void;
}

/** A mailer over SMTP with nodemailer (loaded on the first mail: the CLI's start-up does not pay for it). */
export function createMailer(options: MailOptions): Mailer {
  let transport: Promise<import('nodemailer').Transporter> | undefined;
  const transportOf = () => {
    transport ??= import('nodemailer').then((nodemailer) =>
      nodemailer.default.createTransport(options.smtpUrl),
    );
    return transport;
  };
  return {
    async send(mail) {
      await (await transportOf()).sendMail({
        from: options.from,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        ...(mail.html === undefined ? {} : { html: mail.html }),
        ...(mail.messageId === undefined ? {} : { messageId: mail.messageId }),
      });
    },
    close: () => {
      void transport?.then((open) => open.close());
    },
  };
}

const subjects: Record<string, string> = {
  'task-created': 'Your decision is needed',
  'task-reminded': 'Reminder: your decision is still needed',
  'task-escalated': 'Escalated: your decision is needed',
};

/** The mail that asks a person to act on a task, with their sign-in link. */
export function taskMail(options: {
  to: string;
  eventType: string;
  task: HumanTask;
  link: string;
  expiresAt: string;
  messageId: string;
}): Mail {
  const { task } = options;
  const context = JSON.stringify(task.context, null, 2) ?? 'null';
  const excerpt = context.length > 2000 ? `${context.slice(0, 2000)}\n…` : context;
  return {
    to: options.to,
    subject: `${subjects[options.eventType] ?? 'Holdpoint'}: ${task.title}`,
    messageId: options.messageId,
    text: [
      `${subjects[options.eventType] ?? 'A task'} — ${task.title}`,
      '',
      ...(task.description ? [task.description, ''] : []),
      `Kind: ${task.type.replace('_', ' ')}${task.deadlineAt ? ` · due ${task.deadlineAt}` : ''}`,
      '',
      'What you are deciding on:',
      excerpt,
      '',
      `Open it and decide (this link signs you in once, until ${options.expiresAt}):`,
      options.link,
      '',
      'Opening the link asks you to confirm before anything happens.',
    ].join('\n'),
  };
}

/** The mail with a sign-in link someone asked for. */
export function signInMail(to: string, link: string, expiresAt: string): Mail {
  return {
    to,
    subject: 'Your Holdpoint sign-in link',
    text: [
      'Someone (hopefully you) asked for a link to sign in to the Holdpoint inbox.',
      '',
      `This link signs you in once, until ${expiresAt}:`,
      link,
      '',
      'If it was not you, ignore this mail.',
    ].join('\n'),
  };
}
