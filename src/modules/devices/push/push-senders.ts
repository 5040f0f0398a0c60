import { FactoryProvider, Injectable, Logger } from '@nestjs/common';
import { cert, initializeApp } from 'firebase-admin/app';
import { getMessaging } from 'firebase-admin/messaging';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AppConfig } from '../../../config/app-config';
import { ExpoPushSender } from './expo-push-sender';
import { FirebasePushSender } from './firebase-push-sender';
import { LoggingPushSender } from './logging-push-sender';
import { PushProvider, PushSender } from './push-sender';

/**
 * Builds the FCM transport from the configuration (validated at boot: a malformed key or
 * credentials file never gets here). Each app gets its own named firebase-admin app, so several
 * instances can live in one process.
 */
export function createPushSender(config: AppConfig): PushSender {
  const logger = new Logger('Push');
  const { projectId, clientEmail, privateKey, applicationCredentials } = config.firebase;
  let sender: PushSender;
  if (projectId && clientEmail && privateKey) {
    const app = initializeApp({ credential: cert({ projectId, clientEmail, privateKey }), projectId }, `tether-${randomUUID()}`);
    sender = new FirebasePushSender(getMessaging(app), projectId, app);
  } else if (applicationCredentials) {
    const file = JSON.parse(readFileSync(applicationCredentials, 'utf8')) as { project_id: string };
    const app = initializeApp({ credential: cert(applicationCredentials), projectId: file.project_id }, `tether-${randomUUID()}`);
    sender = new FirebasePushSender(getMessaging(app), file.project_id, app);
  } else {
    sender = new LoggingPushSender();
    logger.warn(
      'No Firebase credentials (FIREBASE_PROJECT_ID, FIREBASE_CLIENT_EMAIL, FIREBASE_PRIVATE_KEY or ' +
        'GOOGLE_APPLICATION_CREDENTIALS): push notifications are logged, not sent',
    );
    return sender;
  }
  logger.log(`push notifications go through ${sender.description}`);
  return sender;
}

export const pushSenderProvider: FactoryProvider<PushSender> = {
  provide: PushSender,
  inject: [AppConfig],
  useFactory: createPushSender,
};

/** Expo needs no credentials: it always sends (an access token only with "enhanced push security"). */
export const expoPushSenderProvider: FactoryProvider<ExpoPushSender> = {
  provide: ExpoPushSender,
  inject: [AppConfig],
  useFactory: (config: AppConfig) => {
    const sender = new ExpoPushSender({
      accessToken: config.expo.accessToken,
      pushUrl: config.expo.pushUrl,
      retryMinTimeoutMs: config.push.retryBaseMs,
    });
    new Logger('Push').log(`Expo push tokens go through ${sender.description}`);
    return sender;
  },
};

/** Finds the sender for a device's provider. */
@Injectable()
export class PushSenders {
  private readonly byProvider: Map<PushProvider, PushSender>;

  constructor(
    fcm: PushSender,
    readonly expo: ExpoPushSender,
  ) {
    this.byProvider = new Map<PushProvider, PushSender>([
      [fcm.provider, fcm],
      [expo.provider, expo],
    ]);
  }

  for(provider: string): PushSender {
    const sender = this.byProvider.get(provider as PushProvider);
    if (!sender) throw new Error(`no push sender for provider ${provider}`);
    return sender;
  }
}
