export const MAX_CONTENT_LENGTH = 4000;
export const MAX_GROUP_PARTICIPANTS = 256;
export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 200;
export const PREVIEW_LENGTH = 120;
/** Message ids one status request may name. */
export const MAX_STATUS_MESSAGE_IDS = 500;
export const CLIENT_MESSAGE_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Channel of one conversation: `conversation:<id>`. */
export const conversationChannel = (id: string) => `conversation:${id}`;
