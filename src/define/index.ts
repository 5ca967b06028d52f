export * from './context';
export * from './permissions';
export * from './resource';
