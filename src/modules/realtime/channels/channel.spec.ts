import { channelOfRoom } from './channel';

describe("channelOfRoom (the activities app's room ids)", () => {
  const keys = new Set(['activity:', 'venue:', 'venue_updates', 'announcements', 'group_chat:']);
  const map = (roomId: string) => channelOfRoom(roomId, (k) => keys.has(k));

  it('maps <prefix>_<id> onto <prefix>:<id> for registered prefixes', () => {
    expect(map('activity_42')).toBe('activity:42');
    expect(map('activity_a_b')).toBe('activity:a_b');
    expect(map('group_chat_7')).toBe('group_chat:7');
  });

  it('keeps channel names, registered exact names and unknown forms unchanged', () => {
    expect(map('activity:42')).toBe('activity:42');
    expect(map('announcements')).toBe('announcements');
    expect(map('venue_updates')).toBe('venue_updates');
    expect(map('booking_9')).toBe('booking_9');
    expect(map('activity_')).toBe('activity_');
    expect(map('Not A Room')).toBe('Not A Room');
  });
});
