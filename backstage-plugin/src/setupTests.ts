import '@testing-library/jest-dom';

// jsdom's CSS parser does not know the cascade layers that @backstage/ui injects; it reports each
// such stylesheet through console.error. Only that report is dropped.
/* eslint-disable no-console */
const consoleError = console.error;
console.error = (...args: unknown[]) => {
  const first = args[0];
  if (first instanceof Error && first.message === 'Could not parse CSS stylesheet') return;
  consoleError(...args);
};
