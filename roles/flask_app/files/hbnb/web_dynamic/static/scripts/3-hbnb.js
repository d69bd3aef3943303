/* 3-hbnb.js: the HBNB page's behaviour, with jQuery, shaped like the public repository's.
 *
 * - The amenities checked are listed in the Amenities filter's h4.
 * - The API status light: #api_status gets the class "available" and data-status="OK" when
 *   GET /api/v1/status/ answers {"status": "OK"}; otherwise no class and data-status="error".
 * - The places: POST /api/v1/places_search/ with {}, one article per place.
 *
 * Like the exercise, the script calls the API at a hard-coded origin, host 0.0.0.0 port 5001
 * (where the exercise ran it), not on the page's own host. Nginx rewrites that origin in this
 * file to the site's own (origins in the sandbox inventory): the calls then reach the API through
 * the host, load balancer and port the page came from. Text from the API goes in with .text(),
 * never as HTML. */
$(function () {
  'use strict';
  const checked = {};

  $('.amenities input[type="checkbox"]').on('change', function () {
    const box = $(this);
    if (this.checked) {
      checked[box.data('id')] = String(box.data('name'));
    } else {
      delete checked[box.data('id')];
    }
    $('.amenities h4').text(Object.values(checked).sort().join(', ') || '\u00a0');
  });

  function apiDown () {
    $('#api_status').removeClass('available').attr('data-status', 'error').text('');
  }

  $.get('http://0.0.0.0:5001/api/v1/status/')
    .done(function (data) {
      if (data && data.status === 'OK') {
        $('#api_status').addClass('available').attr('data-status', 'OK').text('API OK');
      } else {
        apiDown();
      }
    })
    .fail(apiDown);

  function count (n, what) {
    return n + ' ' + what + (n === 1 ? '' : 's');
  }

  function article (place) {
    return $('<article>').append(
      $('<div class="title_box">').append(
        $('<h2>').text(place.name),
        $('<div class="price_by_night">').text('$' + place.price_by_night)),
      $('<div class="information">').append(
        $('<div class="max_guest">').text(count(place.max_guest, 'Guest')),
        $('<div class="number_rooms">').text(count(place.number_rooms, 'Bedroom')),
        $('<div class="number_bathrooms">').text(count(place.number_bathrooms, 'Bathroom'))),
      $('<div class="description">').text(place.description || ''));
  }

  $.ajax({
    type: 'POST',
    url: 'http://0.0.0.0:5001/api/v1/places_search/',
    contentType: 'application/json',
    data: JSON.stringify({}),
    dataType: 'json'
  }).done(function (places) {
    const section = $('section.places');
    section.children('article').remove();
    $.each(places, function (index, place) {
      section.append(article(place));
    });
  }).fail(function (xhr) {
    console.error('places_search: HTTP ' + xhr.status);
  });
});
