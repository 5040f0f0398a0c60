// The scratch toolkit shared by bench/ and test/: worlds, processes, sampling, reports, waiting.
export * from './faults';
export * from './lifecycle';
export * from './processes';
export * from './proxies';
export * from './redis-topologies';
export * from './report';
export * from './sampling';
export * from './wait';
export * from './world';
