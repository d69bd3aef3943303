/* 2-hbnb.js: the API status light and the list of states, from the API on the
 * same host (relative URLs, Nginx routes /api/ to api.v1.app). No libraries. */
document.addEventListener('DOMContentLoaded', function () {
  'use strict';
  const apiStatus = document.getElementById('api_status');
  const statesList = document.getElementById('states');

  function getJSON (url) {
    return fetch(url, { headers: { Accept: 'application/json' } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(url + ': HTTP ' + response.status);
        }
        return response.json();
      });
  }

  getJSON('/api/v1/status/')
    .then(function (data) {
      if (!data || data.status !== 'OK') {
        throw new Error('/api/v1/status/: status ' + (data && data.status));
      }
      apiStatus.classList.add('available');
      apiStatus.setAttribute('data-status', 'OK');
      apiStatus.textContent = 'API OK';
      return getJSON('/api/v1/states/');
    })
    .then(function (states) {
      if (!Array.isArray(states)) {
        throw new Error('/api/v1/states/: not a list');
      }
      const items = states
        .map(function (state) { return String(state.name); })
        .sort()
        .map(function (name) {
          const li = document.createElement('li');
          li.textContent = name;
          return li;
        });
      statesList.replaceChildren.apply(statesList, items);
    })
    .catch(function (error) {
      console.error(error);
      apiStatus.classList.remove('available');
      apiStatus.setAttribute('data-status', 'error');
      apiStatus.textContent = '';
    });
});
