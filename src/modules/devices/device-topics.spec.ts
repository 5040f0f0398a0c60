import { deviceTopics, roleTopic, scopedTopic, tenantTopic, topicAudience } from './device-topics';

describe('device topics', () => {
  it('names tenant and role topics deterministically', () => {
    expect(tenantTopic('acme')).toBe('t-acme');
    expect(roleTopic('acme', 'MEMBER')).toBe('t-acme-role-member');
    expect(deviceTopics('acme', ['MEMBER', 'LEADER', 'MEMBER'])).toEqual(['t-acme', 't-acme-role-leader', 't-acme-role-member']);
  });

  it('encodes tenant ids down to the characters FCM allows, so tenants never collide', () => {
    expect(tenantTopic('a-b')).toBe('t-a%2Db');
    expect(tenantTopic('église/paris')).toBe('t-%C3%A9glise%2Fparis');
    expect(scopedTopic('a', 'b-role-member')).not.toBe(roleTopic('a-b', 'MEMBER'));
    for (const topic of [tenantTopic('x y:z'), roleTopic('ü', 'ADMIN')]) expect(topic).toMatch(/^[A-Za-z0-9_.~%-]+$/);
  });

  it('refuses topic names FCM would refuse', () => {
    expect(() => scopedTopic('acme', 'a/b')).toThrow();
    expect(scopedTopic('acme', 'role-member')).toBe('t-acme-role-member');
  });

  it('maps tenant and role topics to the devices a provider without topics must reach one by one', () => {
    const roles = ['MEMBER', 'LEADER'];
    expect(topicAudience('acme', tenantTopic('acme'), roles)).toEqual({ all: true });
    expect(topicAudience('acme', scopedTopic('acme', 'role-leader'), roles)).toEqual({ roles: ['LEADER'] });
    expect(topicAudience('acme', scopedTopic('acme', 'news'), roles)).toBeNull();
    expect(topicAudience('acme', tenantTopic('other'), roles)).toBeNull();
  });
});
